import Config

# Build-time defaults; config/runtime.exs overrides them from the environment
# when the release boots (which proves the launcher keeps runtime config working
# on a read-only root filesystem).
config :hello,
  port: 4000,
  peers: []

config :logger, level: :info
