%% The application the build adds to every release for build_image_systemd.erl:
%% each of the project's own applications requires it (dockerfiles/require_app.exs),
%% so mix release puts it into the release and its boot script, umbrellas too.
{application, build_image_systemd,
 [{description, "build-image: systemd readiness, watchdog and passed sockets"},
  {vsn, "1.0.0"},
  {modules, [build_image_systemd]},
  {registered, [build_image_systemd_watchdog]},
  {applications, [kernel, stdlib]}]}.
