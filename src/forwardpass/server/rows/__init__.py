"""The Peltarion rows API's two ways in: the HTTP protocol's lane (`lane`) and the ASGI route
(`route`), thin adapters over `serving.predict`."""
