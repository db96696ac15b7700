defmodule HelloPhoenix.Peers do
  @moduledoc """
  Keeps trying to connect to the nodes named in PEERS (config :hello_phoenix,
  :peers), once a second, so a cluster forms whichever node starts first.
  """
  use GenServer

  @interval 1_000

  def start_link(_), do: GenServer.start_link(__MODULE__, :ok, name: __MODULE__)

  @impl true
  def init(:ok) do
    send(self(), :connect)
    {:ok, Application.get_env(:hello_phoenix, :peers, [])}
  end

  @impl true
  def handle_info(:connect, peers) do
    for peer <- peers, peer not in Node.list(), do: Node.connect(peer)
    Process.send_after(self(), :connect, @interval)
    {:noreply, peers}
  end
end
