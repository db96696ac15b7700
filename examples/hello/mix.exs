defmodule Hello.MixProject do
  @moduledoc """
  The example app `build-image` builds and tests: an HTTP server with no hex
  dependencies that reports its cluster membership, plus two task verbs.
  """
  use Mix.Project

  def project do
    [
      app: :hello,
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      deps: [],
      package: [licenses: ["Apache-2.0"]],
      releases: [
        hello: [include_erts: true]
      ]
    ]
  end

  # :ssl must be in the boot script for TLS distribution (-proto_dist inet_tls)
  # to find it in embedded mode; :inets and :crypto are what a real app pulls in.
  def application do
    [
      mod: {Hello.Application, []},
      extra_applications: [:logger, :crypto, :inets, :ssl]
    ]
  end
end
