defmodule HelloPhoenixWeb.ErrorJSON do
  @moduledoc "Errors as JSON: the status message for the template's status code."

  def render(template, _assigns) do
    %{errors: %{detail: Phoenix.Controller.status_message_from_template(template)}}
  end
end
