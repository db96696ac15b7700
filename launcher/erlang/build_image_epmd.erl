%% EPMD-less node discovery for images built by build-image.
%%
%% Every node of the cluster listens on the same pinned distribution port
%% (the launcher exports it as DIST_PORT and pins inet_dist_listen_min/max to
%% it), so a node's port never needs to be asked for: it is DIST_PORT on the
%% host named after the '@'.  No epmd runs and port 4369 stays closed.
%%
%% Selected with `-epmd_module build_image_epmd` (OTP 25/26) or
%% `-kernel epmd_module build_image_epmd` (OTP 27+); the launcher passes the
%% right one for the release's ERTS.  Callbacks follow erl_epmd's contract.
-module(build_image_epmd).

-export([start_link/0,
         register_node/2, register_node/3,
         listen_port_please/2,
         port_please/2, port_please/3,
         address_please/3,
         names/0, names/1]).

%% Distribution protocol version 6 (OTP 23 and later).
-define(DIST_VERSION, 6).

%% Nothing to keep: there is no epmd connection to hold open.
start_link() ->
    ignore.

register_node(Name, Port) ->
    register_node(Name, Port, inet_tcp).

%% -1 asks net_kernel to pick a random creation, as it does without epmd.
register_node(_Name, _Port, _Driver) ->
    {ok, -1}.

listen_port_please(_Name, _Host) ->
    {ok, dist_port()}.

port_please(Name, Host) ->
    port_please(Name, Host, infinity).

port_please(_Name, _Host, _Timeout) ->
    {port, dist_port(), ?DIST_VERSION}.

%% Answering with the port as well means port_please/3 is never needed.
address_please(_Name, Host, AddressFamily) ->
    case inet:getaddr(Host, AddressFamily) of
        {ok, Address} -> {ok, Address, dist_port(), ?DIST_VERSION};
        {error, _} = Error -> Error
    end.

%% There is no registry of local node names without epmd.
names() ->
    {error, no_epmd}.

names(_Hostname) ->
    {error, no_epmd}.

dist_port() ->
    Text = os:getenv("DIST_PORT", ""),
    try list_to_integer(Text) of
        Port when Port > 0, Port < 65536 -> Port;
        _ -> erlang:error({invalid_dist_port, Text})
    catch
        error:badarg -> erlang:error({invalid_dist_port, Text})
    end.
