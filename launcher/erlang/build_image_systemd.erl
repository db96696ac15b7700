%% systemd readiness, watchdog and socket activation for images built by
%% build-image, without a NIF and without a shell.
%%
%% Every release gets it as an application of its own (build_image_systemd.app,
%% required by each of the project's applications, so it is in the boot
%% script), and the launcher's server runs `-s build_image_systemd ready`:
%% init runs -s functions only after the boot script has started every
%% application, so READY=1 means "the release has booted" (Type=notify).
%%
%% The launcher has validated every variable read here (launcher/README.md,
%% "The launcher's knobs") and kept the passed sockets open across its exec
%% of erlexec, which execs beam.smp in the same process: LISTEN_PID is the
%% VM's own pid.
-module(build_image_systemd).

-export([ready/0, notify/1, listen_fds/0]).

%% systemd passes sockets from fd 3 on (SD_LISTEN_FDS_START).
-define(LISTEN_FDS_START, 3).
%% The longest wait `receive ... after` takes, in milliseconds.
-define(MAX_TIMEOUT, 16#FFFFFFFF).
-define(WATCHDOG, build_image_systemd_watchdog).

%% Tells systemd the release has booted and, when the unit has WatchdogSec=
%% (for this process), starts pinging the watchdog at half its interval.
%% Without NOTIFY_SOCKET (not under systemd, or Type=simple) it does nothing.
%% A failure is logged, not raised: it runs from init, and a node that cannot
%% notify is stopped by systemd's start timeout anyway.
-spec ready() -> ok.
ready() ->
    case os:getenv("NOTIFY_SOCKET", "") of
        "" -> ok;
        Socket -> ready(send(address(Socket), "READY=1"))
    end.

ready(ok) ->
    start_watchdog();
ready({error, Reason}) ->
    logger:error("build_image_systemd: READY=1 not sent to NOTIFY_SOCKET: ~p", [Reason]).

%% Sends one notification ("READY=1", "STOPPING=1", "STATUS=...") to
%% NOTIFY_SOCKET; ok without NOTIFY_SOCKET.
-spec notify(iodata()) -> ok | {error, term()}.
notify(Message) ->
    case os:getenv("NOTIFY_SOCKET", "") of
        "" -> ok;
        Socket -> send(address(Socket), Message)
    end.

%% The sockets systemd passed to this process, with their names
%% (FileDescriptorName=, else "unknown"), in fd order; [] when there are
%% none or they were meant for another process.
-spec listen_fds() -> [{Name :: string(), Fd :: non_neg_integer()}].
listen_fds() ->
    case for_this_process("LISTEN_PID") of
        true -> name_fds(count(os:getenv("LISTEN_FDS", "")), os:getenv("LISTEN_FDNAMES", ""));
        false -> []
    end.

%% Whether the pid in Variable is ours; unset means not meant for us.
for_this_process(Variable) ->
    os:getenv(Variable, "") =:= os:getpid().

count(Text) ->
    try list_to_integer(Text) of
        N when N > 0 -> N;
        _ -> 0
    catch
        error:badarg -> 0
    end.

name_fds(0, _) ->
    [];
name_fds(Count, Names) ->
    Fds = lists:seq(?LISTEN_FDS_START, ?LISTEN_FDS_START + Count - 1),
    lists:zip(names(Count, string:split(Names, ":", all)), Fds).

%% systemd names every fd or none; anything else is treated as none.
names(Count, Names) when length(Names) =:= Count, Names =/= [""] ->
    Names;
names(Count, _) ->
    lists:duplicate(Count, "unknown").

%% "@name" is Linux's abstract namespace: a leading NUL byte in sun_path.
address([$@ | Name]) ->
    #{family => local, path => <<0, (unicode:characters_to_binary(Name))/binary>>};
address(Path) ->
    #{family => local, path => unicode:characters_to_binary(Path)}.

%% One datagram from a fresh unbound AF_UNIX socket, as sd_notify sends it.
send(Address, Message) ->
    case socket:open(local, dgram, default) of
        {ok, Socket} ->
            try
                socket:sendto(Socket, iolist_to_binary(Message), Address)
            after
                socket:close(Socket)
            end;
        {error, _} = Error ->
            Error
    end.

start_watchdog() ->
    case watchdog_interval() of
        none ->
            ok;
        {ok, Milliseconds} ->
            %% Not linked: it runs from init's -s, and must outlive it.
            Pid = proc_lib:spawn(fun() -> watchdog(Milliseconds) end),
            try register(?WATCHDOG, Pid) of
                true -> ok
            catch
                %% Already pinging (ready/0 called twice): one pinger is enough.
                error:badarg -> exit(Pid, kill), ok
            end
    end.

%% Half of WATCHDOG_USEC, as sd_watchdog_enabled advises; only when
%% WATCHDOG_PID is unset or ours.
watchdog_interval() ->
    Usec = count(os:getenv("WATCHDOG_USEC", "")),
    Ours = os:getenv("WATCHDOG_PID", "") =:= "" orelse for_this_process("WATCHDOG_PID"),
    case Usec > 0 andalso Ours of
        true -> {ok, min(max(Usec div 2000, 1), ?MAX_TIMEOUT)};
        false -> none
    end.

watchdog(Milliseconds) ->
    case notify("WATCHDOG=1") of
        ok -> ok;
        {error, Reason} -> logger:warning("build_image_systemd: WATCHDOG=1 not sent: ~p", [Reason])
    end,
    receive
    after Milliseconds -> watchdog(Milliseconds)
    end.
