defmodule Hello.Peers do
  @moduledoc """
  Keeps trying to connect to every configured peer once a second, so a
  cluster forms whichever node starts first, and re-forms after a restart.
  A refused connection (wrong cookie, untrusted certificate) just stays
  refused; `GET /nodes` shows the result.
  """
  use GenServer

  @interval 1_000

  def start_link(peers) do
    GenServer.start_link(__MODULE__, peers, name: __MODULE__)
  end

  @impl true
  def init(peers) do
    send(self(), :connect)
    {:ok, Enum.reject(peers, &(&1 == node()))}
  end

  @impl true
  def handle_info(:connect, peers) do
    connected = Node.list()

    for peer <- peers, peer not in connected do
      Node.connect(peer)
    end

    Process.send_after(self(), :connect, @interval)
    {:noreply, peers}
  end
end
