"""abrnet.cli"""
