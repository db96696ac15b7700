defmodule HelloPhoenix.Application do
  @moduledoc false
  use Application

  @impl true
  def start(_type, _args) do
    children = [
      {Phoenix.PubSub, name: HelloPhoenix.PubSub},
      HelloPhoenix.Peers,
      HelloPhoenixWeb.Endpoint
    ]

    Supervisor.start_link(children, strategy: :one_for_one, name: HelloPhoenix.Supervisor)
  end
end
