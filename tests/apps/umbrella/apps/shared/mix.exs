defmodule Shared.MixProject do
  use Mix.Project

  def project do
    [app: :shared, version: "0.4.0", build_path: "../../_build", config_path: "../../config/config.exs",
     deps_path: "../../deps", lockfile: "../../mix.lock", elixir: "~> 1.14", deps: []]
  end

  def application, do: [extra_applications: [:logger]]
end
