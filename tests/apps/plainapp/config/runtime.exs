import Config

config :plainapp, greeting: System.get_env("GREETING", "from runtime.exs")
