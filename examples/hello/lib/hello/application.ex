defmodule Hello.Application do
  @moduledoc """
  Starts the HTTP server and the peer connector under one supervisor, so a
  crash in either is restarted instead of taking the node down.
  """
  use Application

  @impl true
  def start(_type, _args) do
    children = [
      {Task.Supervisor, name: Hello.ConnectionSupervisor},
      {Hello.HTTP, Application.fetch_env!(:hello, :port)},
      {Hello.Peers, Application.fetch_env!(:hello, :peers)}
    ]

    Supervisor.start_link(children, strategy: :one_for_one, name: Hello.Supervisor)
  end
end
