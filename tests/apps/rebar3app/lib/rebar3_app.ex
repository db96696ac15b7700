defmodule Rebar3App.Application do
  @moduledoc false
  use Application

  def start(_type, _args) do
    Supervisor.start_link([{Task, fn -> Rebar3App.HTTP.listen(4000) end}], strategy: :one_for_one)
  end
end

defmodule Rebar3App.HTTP do
  @moduledoc """
  `/health`, and `/greeting`, answered by the rebar3-built Erlang module.
  """

  def listen(port) do
    {:ok, socket} = :gen_tcp.listen(port, [:binary, packet: :http_bin, active: false, reuseaddr: true])
    accept(socket)
  end

  defp accept(socket) do
    {:ok, client} = :gen_tcp.accept(socket)
    path = read_path(client)
    :gen_tcp.send(client, reply(path))
    :gen_tcp.close(client)
    accept(socket)
  end

  # The headers are read too: closing a socket with unread input resets it.
  defp read_path(client) do
    case :gen_tcp.recv(client, 0, 5_000) do
      {:ok, {:http_request, :GET, {:abs_path, path}, _}} -> skip_headers(client, path)
      _ -> nil
    end
  end

  defp skip_headers(client, path) do
    case :gen_tcp.recv(client, 0, 5_000) do
      {:ok, {:http_header, _, _, _, _}} -> skip_headers(client, path)
      {:ok, :http_eoh} -> path
      _ -> nil
    end
  end

  defp reply("/health"), do: ok("ok")
  defp reply("/greeting"), do: ok(:rebar_greeter.greet("rebar3app"))

  defp reply("/apps"),
    do: ok(Enum.map_join(Application.started_applications(), ",", &Atom.to_string(elem(&1, 0))))

  defp reply(_), do: "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"

  defp ok(body),
    do: "HTTP/1.1 200 OK\r\ncontent-length: #{byte_size(body)}\r\nconnection: close\r\n\r\n" <> body
end
