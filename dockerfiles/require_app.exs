# Adds one application to the applications of one compiled .app file, so that
# `mix release` puts it into the release and its boot script (embedded mode
# loads only what the boot script names). Only the copy compiled in the
# release stage changes; the user's mix.exs is never edited.
# Usage: elixir require_app.exs APP PATH.app
[required, path] = System.argv()
required = String.to_atom(required)
{:ok, [{:application, app, props}]} = :file.consult(String.to_charlist(path))
apps = Keyword.get(props, :applications, [])

unless required in apps do
  props = Keyword.put(props, :applications, apps ++ [required])
  File.write!(path, :io_lib.format(~c"~tp.~n", [{:application, app, props}]))
end
