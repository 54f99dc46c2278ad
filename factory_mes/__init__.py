"""A small reference MES: an OPC UA client that dispatches a plant's order book as job orders.

It imports nothing of the model or the server (like the bridge): it works against any
server that offers OPC 40001-3 Job Management on its machines and an order book as
`factory-sim serve --jobs external` serves it. See `factory_mes.mes`.
"""
