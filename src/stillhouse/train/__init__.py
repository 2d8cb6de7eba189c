"""stillhouse.train"""
