defmodule Front.MixProject do
  use Mix.Project

  def project do
    [app: :front, version: "0.4.0", build_path: "../../_build", config_path: "../../config/config.exs",
     deps_path: "../../deps", lockfile: "../../mix.lock", elixir: "~> 1.14",
     deps: [{:shared, in_umbrella: true}]]
  end

  def application, do: [mod: {Front.Application, []}, extra_applications: [:logger]]
end
