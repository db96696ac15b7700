-module(rebar_greeter).
-export([greet/1, built_by/0]).

%% greet(Name): a binary greeting that says which tool compiled this module.
greet(Name) when is_binary(Name) ->
    <<"hello ", Name/binary, " from rebar_greeter (built by ", (atom_to_binary(built_by()))/binary, ")">>.

-ifdef(BUILT_BY_REBAR3).
built_by() -> rebar3.
-else.
built_by() -> unknown.
-endif.
