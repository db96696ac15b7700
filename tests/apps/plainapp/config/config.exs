import Config

config :plainapp, greeting: "from config.exs"
