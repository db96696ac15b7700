# A release built with include_erts: false expects Erlang on the host: it has
# no erts-*/ and none of OTP's applications under lib/. The image has no other
# runtime, so they are added here from the OTP stage, as include_erts: true
# would have copied them (erts-*/bin; each OTP application's ebin and priv).
# The boot script finds OTP applications under $ROOT/lib, which is the
# release. Usage: elixir include_erts.exs RELEASE_DIR OTP_ROOT
[release, otp] = System.argv()
copy = fn from, to -> File.mkdir_p!(Path.dirname(to)) && File.cp_r!(from, to) end
[erts, version] = release |> Path.join("releases/start_erl.data") |> File.read!() |> String.split()

if Path.wildcard(Path.join(release, "erts-*")) == [] do
  [rel_file] = Path.wildcard(Path.join([release, "releases", version, "*.rel"]))
  {:ok, [{:release, _, _, apps}]} = :file.consult(String.to_charlist(rel_file))
  copy.(Path.join([otp, "erts-#{erts}", "bin"]), Path.join([release, "erts-#{erts}", "bin"]))

  added =
    for app <- apps,
        {name, vsn} = {elem(app, 0), elem(app, 1)},
        source = Path.join([otp, "lib", "#{name}-#{vsn}"]),
        target = Path.join([release, "lib", "#{name}-#{vsn}"]),
        File.dir?(source) and not File.dir?(target) do
      for dir <- ["ebin", "priv"], File.dir?(Path.join(source, dir)) do
        copy.(Path.join(source, dir), Path.join(target, dir))
      end

      name
    end

  IO.puts(:stderr, "build-image: include_erts: false in mix.exs, and the image has no other runtime: " <>
                     "ERTS #{erts} and #{Enum.join(added, ", ")} added from the OTP stage")
end
