#!/usr/bin/env python3
# The manage.py of the throwaway Django project of scripts/bench-django.js (settings.py beside it).
import os
import sys

if __name__ == '__main__':
    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'settings')
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
