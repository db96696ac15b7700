import Config

# Everything that differs between deployments comes from the environment:
# PORT (default 4000), SECRET_KEY_BASE (required in prod), GREETING, and
# PEERS (comma-separated node names this node keeps connecting to).
if config_env() == :prod do
  secret_key_base =
    System.get_env("SECRET_KEY_BASE") ||
      raise "SECRET_KEY_BASE is missing: generate one with `mix phx.gen.secret` or 64 random bytes"

  config :hello_phoenix, HelloPhoenixWeb.Endpoint,
    server: true,
    http: [ip: {0, 0, 0, 0}, port: String.to_integer(System.get_env("PORT", "4000"))],
    secret_key_base: secret_key_base

  config :hello_phoenix,
    greeting: System.get_env("GREETING", "from runtime.exs"),
    peers:
      System.get_env("PEERS", "")
      |> String.split(",", trim: true)
      |> Enum.map(&(&1 |> String.trim() |> String.to_atom()))
end
