"""Barriers, gates, contacts and free-space boards.

``base`` holds the Protocols, ``config`` the pydantic models (one ``driver`` per gate),
``registry`` builds drivers from config and owns the fire-alarm ``SafetySupervisor``.
``relay_barrier`` runs the pure ``controllers.barrier`` machine over any relay transport:
``simulated``, ``mqtt`` (Tasmota, Shelly Gen2, custom), ``modbus``, ``gpio`` and ``http``.
Driver modules are imported only when configured.
"""
