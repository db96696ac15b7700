# Prints the release `mix release` (no name given) would build, as mix decides it
# (Mix.Release.from_config!/3): the only configured release, else
# :default_release, else the app itself. One line, read by builder/project.py:
#   release NAME | several NAME... | umbrella | error MESSAGE
answer =
  try do
    Mix.start()
    Code.compile_file("mix.exs")
    config = Mix.Project.config()

    case Keyword.get(config, :releases, []) do
      [{name, _}] ->
        "release #{name}"

      [] ->
        if Mix.Project.umbrella?(config), do: "umbrella", else: "release #{config[:app]}"

      releases ->
        names = Keyword.keys(releases)

        case config[:default_release] do
          nil -> "several " <> Enum.join(names, " ")
          name -> if name in names, do: "release #{name}", else: "several " <> Enum.join(names, " ")
        end
    end
  rescue
    error -> "error " <> (error |> Exception.message() |> String.replace("\n", " "))
  end

IO.puts(answer)
