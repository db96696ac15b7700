defmodule HelloPhoenixWeb.StatusController do
  @moduledoc """
  JSON endpoints: `/health`, `/nodes` (this node and the nodes it is
  connected to, as examples/hello answers), `/greeting` (set by
  config/runtime.exs from the environment) and `/apps` (started applications).
  """
  use Phoenix.Controller, formats: [:json]

  def health(conn, _params), do: json(conn, %{status: "ok"})

  def nodes(conn, _params), do: json(conn, %{node: node(), nodes: Enum.sort(Node.list())})

  def greeting(conn, _params),
    do: json(conn, %{greeting: Application.fetch_env!(:hello_phoenix, :greeting)})

  def apps(conn, _params),
    do: json(conn, %{applications: for({app, _, _} <- Application.started_applications(), do: app)})
end
