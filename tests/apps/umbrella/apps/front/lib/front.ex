defmodule Front.Application do
  @moduledoc false
  use Application

  def start(_type, _args) do
    Supervisor.start_link([{Task, fn -> Shared.HTTP.listen(4000, "front") end}], strategy: :one_for_one)
  end
end
