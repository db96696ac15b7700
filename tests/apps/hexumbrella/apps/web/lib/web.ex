defmodule Web.Application do
  @moduledoc false
  use Application

  def start(_type, _args) do
    Supervisor.start_link([{Task, fn -> Web.HTTP.listen(4000) end}], strategy: :one_for_one)
  end
end

defmodule Web.HTTP do
  @moduledoc """
  `/health`, and `/deps`: one JSON object (encoded by Jason) with the answers
  of the rebar3-built Hex package and of the git dependency.
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
  defp reply("/deps"), do: ok(Jason.encode!(%{rebar: :tiny_rebar.hello(), git: GitGreeter.hello()}))
  defp reply(_), do: "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"

  defp ok(body),
    do: "HTTP/1.1 200 OK\r\ncontent-length: #{byte_size(body)}\r\nconnection: close\r\n\r\n" <> body
end
