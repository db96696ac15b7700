import Config

config :shared, greeting: System.get_env("GREETING", "from runtime.exs")
