"""Every state change, one transaction each, its lock named in the docstring; the reads the
shells share. Services call the engine for every rule and never import a shell (views, API,
commands, tasks): work for the workers is sent by name through `queueing.dispatch`."""
