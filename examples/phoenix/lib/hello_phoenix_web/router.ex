defmodule HelloPhoenixWeb.Router do
  use Phoenix.Router, helpers: false

  import Plug.Conn
  import Phoenix.Controller

  pipeline :api do
    plug :accepts, ["json"]
  end

  scope "/", HelloPhoenixWeb do
    pipe_through :api

    get "/health", StatusController, :health
    get "/nodes", StatusController, :nodes
    get "/greeting", StatusController, :greeting
    get "/apps", StatusController, :apps
  end
end
