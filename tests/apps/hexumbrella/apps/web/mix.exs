defmodule Web.MixProject do
  use Mix.Project

  def project do
    [app: :web, version: "0.1.0", build_path: "../../_build", config_path: "../../config/config.exs",
     deps_path: "../../deps", lockfile: "../../mix.lock", elixir: "~> 1.14",
     deps: [
       {:jason, "~> 1.4"},
       {:tiny_rebar, "~> 0.1"},
       # git resolves a relative URL in deps/git_greeter: this is vendor/git_greeter.git of the umbrella.
       {:git_greeter, git: "../../vendor/git_greeter.git"}
     ]]
  end

  def application, do: [mod: {Web.Application, []}, extra_applications: [:logger]]
end
