# nameko's pytest plugin no longer monkey-patches eventlet: do it before anything
# imports socket, threading or psycopg2.
import eventlet

eventlet.monkey_patch()
