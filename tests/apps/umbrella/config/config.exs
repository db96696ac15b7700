import Config

config :shared, greeting: "from config.exs"
