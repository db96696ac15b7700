import Config

# PORT: the HTTP port (default 4000).
# PEERS: comma-separated node names (e.g. "hello@10.0.0.2,hello@10.0.0.3") this
# node keeps trying to connect to, so a cluster forms as peers come up.
port =
  case Integer.parse(System.get_env("PORT", "4000")) do
    {port, ""} when port in 1..65_535 ->
      port

    _ ->
      raise "PORT must be an integer between 1 and 65535, got: #{inspect(System.get_env("PORT"))}"
  end

peers =
  System.get_env("PEERS", "")
  |> String.split(",", trim: true)
  |> Enum.map(&String.trim/1)
  |> Enum.reject(&(&1 == ""))
  |> Enum.map(&String.to_atom/1)

config :hello, port: port, peers: peers
