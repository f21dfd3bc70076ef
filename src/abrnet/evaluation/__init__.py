"""abrnet.evaluation"""
