# Adds :ssl to the applications of one compiled .app file, so that `mix release`
# puts ssl (with crypto, public_key and asn1) into the release and its boot
# script: TLS distribution (-proto_dist inet_tls) needs ssl loaded at boot in
# embedded mode. Only the copy compiled in the release stage changes; the
# user's mix.exs is never edited. Usage: elixir require_ssl.exs PATH.app
[path] = System.argv()
{:ok, [{:application, app, props}]} = :file.consult(String.to_charlist(path))
apps = Keyword.get(props, :applications, [])

unless :ssl in apps do
  props = Keyword.put(props, :applications, apps ++ [:ssl])
  File.write!(path, :io_lib.format(~c"~tp.~n", [{:application, app, props}]))
  IO.puts(:stderr, "build-image: #{app}: :ssl added to the release (TLS distribution needs it)")
end
