defmodule HelloPhoenix.MixProject do
  @moduledoc """
  A real Phoenix 1.8 app on Bandit, JSON only: no assets, no database. On
  purpose there is no `releases:` and no `:ssl` here, as in most projects:
  build-image builds it as it is. mix.lock pins the Hex packages of the
  offline fixture repository (tests/apps/hex_repository.py).
  """
  use Mix.Project

  def project do
    [
      app: :hello_phoenix,
      version: "0.1.0",
      elixir: "~> 1.15",
      start_permanent: Mix.env() == :prod,
      deps: deps()
    ]
  end

  def application do
    [mod: {HelloPhoenix.Application, []}, extra_applications: [:logger]]
  end

  defp deps do
    [
      {:phoenix, "~> 1.8.0"},
      {:bandit, "~> 1.5"},
      {:jason, "~> 1.2"}
    ]
  end
end
