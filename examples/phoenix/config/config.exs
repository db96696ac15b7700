import Config

# Build-time configuration; config/runtime.exs reads the environment at boot.
config :hello_phoenix, HelloPhoenixWeb.Endpoint,
  adapter: Bandit.PhoenixAdapter,
  url: [host: "localhost"],
  render_errors: [formats: [json: HelloPhoenixWeb.ErrorJSON], layout: false],
  pubsub_server: HelloPhoenix.PubSub

config :hello_phoenix, greeting: "from config.exs", peers: []

config :phoenix, :json_library, Jason
config :logger, level: :info
