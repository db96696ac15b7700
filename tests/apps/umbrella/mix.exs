defmodule Umbrella.MixProject do
  @moduledoc """
  An umbrella with two releases, neither listing `:ssl`. `back` also sets
  `include_erts: false` and `include_executables_for: []`, which a release
  meant for a host with Erlang installed does: build-image must still give a
  bootable image.
  """
  use Mix.Project

  def project do
    [
      apps_path: "apps",
      version: "0.4.0",
      start_permanent: Mix.env() == :prod,
      deps: [],
      releases: [
        front: [applications: [front: :permanent]],
        back: [applications: [back: :permanent], include_erts: false, include_executables_for: []]
      ]
    ]
  end
end
