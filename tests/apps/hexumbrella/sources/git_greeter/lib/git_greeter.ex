defmodule GitGreeter do
  @moduledoc "A dependency fetched with git from a bare repository inside the project."

  def hello, do: "git_greeter from vendor/git_greeter.git"
end
