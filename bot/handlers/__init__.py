"""One module per feature; :func:`bot.app.build_application` registers them in order."""
