defmodule GitGreeter.MixProject do
  use Mix.Project

  def project, do: [app: :git_greeter, version: "0.1.0", elixir: "~> 1.14", deps: []]

  def application, do: [extra_applications: []]
end
