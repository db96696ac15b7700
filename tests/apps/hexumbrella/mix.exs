defmodule HexUmbrella.MixProject do
  @moduledoc """
  An umbrella whose one app depends on Hex packages and a git repository:
  `jason` (a Hex package built by mix), `tiny_rebar` (a Hex package whose
  metadata says `build_tools: ["rebar3"]`, compiled through the pinned
  rebar3) and `git_greeter` (a git dependency served from `vendor/`, a bare
  repository inside the project). The test makes the repository, the Hex
  package and mix.lock from `sources/`; one build proves all three.
  """
  use Mix.Project

  def project do
    [
      apps_path: "apps",
      version: "0.1.0",
      start_permanent: Mix.env() == :prod,
      deps: [],
      releases: [hexumbrella: [applications: [web: :permanent]]]
    ]
  end
end
