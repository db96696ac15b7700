# Refuses a path dependency outside the project: only the project directory is
# in the build context, so such a dependency cannot be built. Names each one.
# Run in the project directory, on mix.exs alone (nothing compiled).
Mix.start()
Code.compile_file("mix.exs")
root = File.cwd!()

outside =
  for dep <- Keyword.get(Mix.Project.config(), :deps, []),
      opts = (if is_list(elem(dep, tuple_size(dep) - 1)), do: elem(dep, tuple_size(dep) - 1), else: []),
      path = opts[:path],
      is_binary(path) and opts[:in_umbrella] != true,
      full = Path.expand(path, root),
      full != root and not String.starts_with?(full, root <> "/"),
      do: "#{inspect(elem(dep, 0))} (path: #{inspect(path)})"

if outside != [] do
  IO.puts(:stderr, "build-image: path dependencies outside the project cannot be built (only the " <>
                     "project directory is in the build context): #{Enum.join(outside, ", ")}; move them " <>
                     "inside the project, or depend on them through Hex or git")
  System.halt(1)
end
