# Settings of the throwaway Django project that scripts/bench-django.js builds in a temp dir:
# the app (its models.py generated from our manifest) and the database come from the environment.
import json
import os

SECRET_KEY = 'bench-django'
DEBUG = False  # DEBUG would keep every query in memory
USE_TZ = True  # the fixtures' datetimes are UTC with a Z; Django refuses aware datetimes on SQLite/MySQL without it
TIME_ZONE = 'UTC'
INSTALLED_APPS = [os.environ['RSDB_DJANGO_APP']]
DATABASES = {'default': json.loads(os.environ['RSDB_DJANGO_DB'])}
DEFAULT_AUTO_FIELD = 'django.db.models.AutoField'
