defmodule Hello.HTTP do
  @moduledoc """
  A deliberately tiny HTTP/1.1 server on :gen_tcp (no hex deps): the image
  tests need an endpoint that proves the release booted and shows which nodes
  it is connected to, and nothing more.

  It serves on the socket systemd passed when started by socket activation
  (`:build_image_systemd.listen_fds/0`), otherwise on its own port.

  Routes: `GET /` (text "hello"), `GET /health`, `GET /nodes` (JSON with this
  node's name and `Node.list()`), `GET /dist` (JSON: how the node
  distributes). Every response closes the connection.
  """
  use Task, restart: :permanent
  require Logger

  @read_timeout 5_000

  # Added to the release by build-image, so not on the code path at compile time.
  @compile {:no_warn_undefined, :build_image_systemd}

  def start_link(port) do
    Task.start_link(__MODULE__, :listen, [port])
  end

  @doc false
  def listen(port) do
    options = [:binary, packet: :http_bin, active: false, reuseaddr: true]

    {:ok, socket} =
      case passed_socket() do
        {name, fd} ->
          Logger.info("hello: serving HTTP on the socket systemd passed (#{name}, fd #{fd})")
          :gen_tcp.listen(0, [{:fd, fd} | options])

        nil ->
          Logger.info("hello: serving HTTP on port #{port}")
          :gen_tcp.listen(port, options)
      end

    accept_loop(socket)
  end

  @doc """
  The listening socket systemd passed (socket activation), as `{name, fd}`:
  the one named "http", else the first stream socket; `nil` without one.
  `:build_image_systemd` is in every release build-image makes; elsewhere
  (mix test, iex) there is no passed socket.
  """
  def passed_socket do
    sockets =
      if Code.ensure_loaded?(:build_image_systemd),
        do: Enum.filter(:build_image_systemd.listen_fds(), &stream?/1),
        else: []

    Enum.find(sockets, &match?({~c"http", _}, &1)) || List.first(sockets)
  end

  # Asks the kernel through a duplicate of the fd (:socket.open/1 dups it by
  # default), so closing it here leaves systemd's descriptor open.
  defp stream?({_name, fd}) do
    case :socket.open(fd) do
      {:ok, probe} ->
        type = :socket.getopt(probe, {:socket, :type})
        :socket.close(probe)
        type == {:ok, :stream}

      {:error, _} ->
        false
    end
  end

  defp accept_loop(socket) do
    {:ok, client} = :gen_tcp.accept(socket)

    {:ok, pid} = Task.Supervisor.start_child(Hello.ConnectionSupervisor, fn -> serve(client) end)

    # The handler waits for :handed_over, so it cannot close the socket before
    # ownership moves (controlling_process/2 would then fail with :closed).
    :ok = :gen_tcp.controlling_process(client, pid)
    send(pid, :handed_over)
    accept_loop(socket)
  end

  defp serve(client) do
    receive do
      :handed_over -> :ok
    end

    response =
      case read_request(client) do
        {:ok, method, path} -> route(method, path)
        :error -> respond(400, "text/plain", "bad request\n")
      end

    :gen_tcp.send(client, response)
    :gen_tcp.close(client)
  end

  defp read_request(client) do
    with {:ok, {:http_request, method, {:abs_path, path}, _version}} <-
           :gen_tcp.recv(client, 0, @read_timeout),
         :ok <- skip_headers(client) do
      {:ok, method, path}
    else
      _ -> :error
    end
  end

  defp skip_headers(client) do
    case :gen_tcp.recv(client, 0, @read_timeout) do
      {:ok, {:http_header, _, _, _, _}} -> skip_headers(client)
      {:ok, :http_eoh} -> :ok
      _ -> :error
    end
  end

  defp route(:GET, "/"), do: respond(200, "text/plain", "hello\n")
  defp route(:GET, "/health"), do: respond(200, "text/plain", "ok\n")
  defp route(:GET, "/nodes"), do: respond(200, "application/json", nodes_json())
  defp route(:GET, "/dist"), do: respond(200, "application/json", dist_json())
  defp route(:GET, _path), do: respond(404, "text/plain", "not found\n")
  defp route(_method, _path), do: respond(405, "text/plain", "method not allowed\n")

  @doc "This node and the nodes it is connected to, as a JSON object."
  def nodes_json do
    peers = Enum.map_join(Enum.sort(Node.list()), ",", &json_string/1)
    ~s({"node":#{json_string(node())},"nodes":[#{peers}]}) <> "\n"
  end

  @doc """
  How this node distributes, as the VM itself sees it: the `-proto_dist`
  arguments it was started with, the protocol of its distribution listener
  and of every connection. The image tests assert TLS is all there is.
  """
  def dist_json do
    proto_dist =
      case :init.get_argument(:proto_dist) do
        {:ok, values} -> values |> Enum.concat() |> Enum.map(&to_string/1)
        :error -> []
      end

    listening = :net_kernel |> :sys.get_state() |> protocols() |> Enum.uniq()

    connections =
      for node <- Enum.sort(Node.list(:connected)),
          {:ok, info} = :net_kernel.node_info(node),
          protocol <- protocols(info[:address]),
          do: ~s(#{json_string(node)}:#{json_string(protocol)})

    ~s({"proto_dist":[#{Enum.map_join(proto_dist, ",", &json_string/1)}],) <>
      ~s("listen":[#{Enum.map_join(listening, ",", &json_string/1)}],) <>
      ~s("connections":{#{Enum.join(connections, ",")}}}) <> "\n"
  end

  # Every #net_address{protocol: P} inside a term (net_kernel's state or node_info).
  defp protocols({:net_address, _address, _host, protocol, _family}), do: [protocol]
  defp protocols(tuple) when is_tuple(tuple), do: tuple |> Tuple.to_list() |> protocols()
  defp protocols(list) when is_list(list), do: Enum.flat_map(list, &protocols/1)
  defp protocols(map) when is_map(map), do: map |> Map.values() |> protocols()
  defp protocols(_other), do: []

  # Node names are atoms the operator chose; escape them properly anyway.
  defp json_string(atom) when is_atom(atom), do: json_string(Atom.to_string(atom))

  defp json_string(text) when is_binary(text) do
    escaped =
      for <<char::utf8 <- text>>, into: "" do
        case char do
          ?" -> "\\\""
          ?\\ -> "\\\\"
          c when c < 0x20 -> "\\u" <> String.pad_leading(Integer.to_string(c, 16), 4, "0")
          c -> <<c::utf8>>
        end
      end

    ~s("#{escaped}")
  end

  defp respond(status, content_type, body) do
    [
      "HTTP/1.1 #{status} #{reason(status)}\r\n",
      "content-type: #{content_type}\r\n",
      "content-length: #{byte_size(body)}\r\n",
      "connection: close\r\n\r\n",
      body
    ]
  end

  defp reason(200), do: "OK"
  defp reason(400), do: "Bad Request"
  defp reason(404), do: "Not Found"
  defp reason(405), do: "Method Not Allowed"
end
