-module(tiny_rebar).
-export([hello/0]).

%% hello(): says which tool compiled this module.
-ifdef(BUILT_BY_REBAR3).
hello() -> <<"tiny_rebar built by rebar3">>.
-else.
hello() -> <<"tiny_rebar built by something else">>.
-endif.
