"""An application whose tasks live in several modules (docs/worker.md, "Task modules"):

    pgqueue worker examples.task_modules.app:app \\
        --import examples.task_modules.billing --import examples.task_modules.mail
"""
