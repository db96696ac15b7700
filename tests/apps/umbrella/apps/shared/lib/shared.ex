defmodule Shared.HTTP do
  @moduledoc """
  Just enough HTTP for the tests: `/health`, `/greeting` (the runtime.exs
  value), `/release` (which app serves), `/nodes` and `/apps`.
  """

  def listen(port, name) do
    {:ok, socket} = :gen_tcp.listen(port, [:binary, packet: :http_bin, active: false, reuseaddr: true])
    accept(socket, name)
  end

  defp accept(socket, name) do
    {:ok, client} = :gen_tcp.accept(socket)
    :gen_tcp.send(client, reply(read_path(client), name))
    :gen_tcp.close(client)
    accept(socket, name)
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

  defp reply("/health", _), do: ok("ok")
  defp reply("/release", name), do: ok(name)
  defp reply("/greeting", _), do: ok(Application.fetch_env!(:shared, :greeting))
  defp reply("/nodes", _), do: ok(Enum.map_join([node() | Node.list()], ",", &Atom.to_string/1))

  defp reply("/apps", _),
    do: ok(Enum.map_join(Application.started_applications(), ",", &Atom.to_string(elem(&1, 0))))

  defp reply(_, _), do: "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"

  defp ok(body),
    do: "HTTP/1.1 200 OK\r\ncontent-length: #{byte_size(body)}\r\nconnection: close\r\n\r\n" <> body
end
