defmodule Hello.Tasks do
  @moduledoc """
  The example's task verbs (`bin/check`, `bin/fail` in the image). They run
  without the application started, so they only use what the release's code
  path provides.
  """

  @doc "Succeeds (exit 0) after proving the release's own application can be loaded."
  def check do
    case Application.load(:hello) do
      :ok -> :ok
      {:error, {:already_loaded, :hello}} -> :ok
    end

    IO.puts("hello check: ok (version #{Application.spec(:hello, :vsn)})")
  end

  @doc "Always fails with exit status 3, so tests can see a verb's status pass through."
  def fail do
    IO.puts(:stderr, "hello fail: failing on purpose with exit status 3")
    System.halt(3)
  end
end
