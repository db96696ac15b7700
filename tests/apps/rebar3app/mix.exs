defmodule Rebar3App.MixProject do
  @moduledoc """
  A plain app with one dependency that only rebar3 can build: `rebar_greeter`
  (vendor/, a rebar.config and an Erlang module, `manager: :rebar3`).
  """
  use Mix.Project

  def project do
    [app: :rebar3app, version: "0.1.0", elixir: "~> 1.14", start_permanent: Mix.env() == :prod,
     deps: [{:rebar_greeter, path: "vendor/rebar_greeter", manager: :rebar3}]]
  end

  def application do
    [mod: {Rebar3App.Application, []}, extra_applications: [:logger]]
  end
end
