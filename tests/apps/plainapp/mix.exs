defmodule PlainApp.MixProject do
  @moduledoc """
  A plain project as `mix new --sup` makes it, on purpose: no `releases:`, no
  `:ssl`, configuration from the environment in config/runtime.exs.
  build-image must build it as it is.
  """
  use Mix.Project

  def project do
    [app: :plainapp, version: "0.3.0", elixir: "~> 1.14", start_permanent: Mix.env() == :prod, deps: []]
  end

  def application do
    [mod: {PlainApp.Application, []}, extra_applications: [:logger]]
  end
end
